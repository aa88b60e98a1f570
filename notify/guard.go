package notify

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// blockedRanges are refused unless allow-listed; the first match names the
// category, so narrower ranges come before the ranges containing them.
// Documentation and benchmark ranges are left alone: they route nowhere
// interesting, and 198.18.0.0/15 is used by fake-IP DNS proxies.
var blockedRanges = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared"}, // CGNAT; Alibaba Cloud metadata 100.100.100.200
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"}, // cloud metadata 169.254.169.254
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"}, // IETF protocol assignments
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved"},        // deprecated IPv4-compatible
	{netip.MustParsePrefix("2001::/32"), "teredo"},      // tunnels to an IPv4 address
	{netip.MustParsePrefix("fc00::/7"), "unique-local"}, // incl. the fd00:ec2::254 metadata address
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// IPv6 ranges that carry an IPv4 address a gateway or relay will forward
// to, so 64:ff9b::7f00:1 is as much loopback as 127.0.0.1.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	nat64Loc  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Blocked reports whether the guard refuses ip when not allow-listed, and
// the category ("loopback", "private", ...). IPv4-mapped addresses are
// unmapped first, so ::ffff:127.0.0.1 is loopback.
func Blocked(ip netip.Addr) (reason string, blocked bool) {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return "invalid", true
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return Blocked(netip.AddrFrom4([4]byte(b[12:16])))
		case nat64Loc.Contains(ip):
			return "reserved", true // local-use NAT64: translated by our own network
		case sixToFour.Contains(ip):
			return Blocked(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.reason, true
		}
	}
	return "", false
}

// ParseAllow parses a comma-separated list of CIDRs or bare IPs
// ("127.0.0.0/8, ::1") into prefixes; the error names the bad entry.
// IPv4-mapped entries are unmapped, since the guard checks unmapped addresses.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, err := parsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("notify: allow-list entry %q is not an IP address or CIDR", e)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(e string) (netip.Prefix, error) {
	if !strings.Contains(e, "/") {
		a, err := netip.ParseAddr(e)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// refusedError is the guard's refusal; Deliver reports it verbatim.
type refusedError struct{ addr, reason string }

func (e *refusedError) Error() string {
	return fmt.Sprintf("notify: refusing to dial %s: %s address (allow-list it with ASYNCGATE_NOTIFY_ALLOW)", e.addr, e.reason)
}

// guard is a net.Dialer Control hook. It runs on the address actually being
// connected to, after DNS resolution and for every candidate address, so a
// name resolving to a private address (localhost, DNS rebinding) is refused
// like the literal address would be.
func guard(allow []netip.Prefix) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &refusedError{addr: address, reason: "unparsable"}
		}
		ip := ap.Addr().Unmap().WithZone("")
		for _, p := range allow {
			if p.Contains(ip) {
				return nil
			}
		}
		if reason, blocked := Blocked(ip); blocked {
			return &refusedError{addr: address, reason: reason}
		}
		return nil
	}
}
