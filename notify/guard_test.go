package notify

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip     string
		reason string // "" = not blocked
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"64:ff9b::7f00:1", "loopback"}, // NAT64 of 127.0.0.1
		{"10.0.0.1", "private"},
		{"::ffff:10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"2002:a00:1::1", "private"}, // 6to4 of 10.0.0.1
		{"100.64.0.1", "shared"},
		{"100.100.100.200", "shared"}, // Alibaba Cloud metadata
		{"100.127.255.255", "shared"},
		{"169.254.169.254", "link-local"}, // AWS/GCP/Azure metadata
		{"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "unique-local"},
		{"fd00:ec2::254", "unique-local"}, // AWS IPv6 metadata
		{"fec0::1", "site-local"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"192.0.0.170", "reserved"},
		{"::7f00:1", "reserved"}, // deprecated IPv4-compatible
		{"64:ff9b:1::1", "reserved"},
		{"2001::1", "teredo"},
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.128.0.1", ""},
		{"172.32.0.1", ""},
		{"203.0.113.5", ""}, // documentation
		{"198.18.0.1", ""},  // benchmark
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2001:4860:4860::8888", ""},
		{"2606:4700:4700::1111", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			t.Parallel()
			reason, blocked := Blocked(netip.MustParseAddr(tt.ip))
			require.Equal(t, tt.reason != "", blocked)
			require.Equal(t, tt.reason, reason)
		})
	}
	reason, blocked := Blocked(netip.Addr{})
	require.True(t, blocked)
	require.Equal(t, "invalid", reason)
}

func TestGuardControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allow   string
		address string
		wantErr string // "" = dial allowed
	}{
		{"public", "", "8.8.8.8:443", ""},
		{"public v6", "", "[2001:4860:4860::8888]:443", ""},
		{"loopback", "", "127.0.0.1:8080",
			"notify: refusing to dial 127.0.0.1:8080: loopback address (allow-list it with ASYNCGATE_NOTIFY_ALLOW)"},
		{"metadata", "", "169.254.169.254:80", "link-local address"},
		{"zoned link-local", "", "[fe80::1%eth0]:80", "link-local address"},
		{"mapped private", "", "[::ffff:10.0.0.1]:80", "private address"},
		{"allow-listed", "10.0.0.0/8", "10.1.2.3:80", ""},
		{"allow-listed, mapped", "10.0.0.0/8", "[::ffff:10.1.2.3]:80", ""},
		{"other range allow-listed", "10.0.0.0/8", "192.168.0.1:80", "private address"},
		{"unparsable", "", "localhost:80", "unparsable address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			allow, err := ParseAllow(tt.allow)
			require.NoError(t, err)
			err = guard(allow)("tcp", tt.address, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestGuardRefusesLoopbackServer dials a real loopback server that is not
// allow-listed: the guard must refuse it, by address or by name, before a
// request reaches the handler.
func TestGuardRefusesLoopbackServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		host  string // replaces 127.0.0.1 in the server URL
		allow []netip.Prefix
	}{
		{"address", "127.0.0.1", nil},
		{"hostname localhost", "localhost", nil},
		{"IPv4-mapped", "[::ffff:127.0.0.1]", nil},
		{"IPv6 loopback", "[::1]", nil},
		{"other range allow-listed", "localhost", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}
	for _, tt := range tests {
		for _, format := range []Format{FormatTOP, FormatWebhook} {
			t.Run(tt.name+"/"+string(format), func(t *testing.T) {
				t.Parallel()
				s, rc := setup(t, Config{Allow: tt.allow}, reply(200, "true"))
				u := strings.Replace(rc.URL, "127.0.0.1", tt.host, 1)
				a := s.Deliver(context.Background(), Target{URL: u, Format: format, AppKey: "k", Secret: secret}, event)
				require.False(t, a.Delivered)
				require.Zero(t, a.HTTPStatus)
				require.Contains(t, a.Error, "notify: refusing to dial ")
				require.Contains(t, a.Error, ": loopback address (allow-list it with ASYNCGATE_NOTIFY_ALLOW)")
				require.Zero(t, rc.hits.Load(), "the handler must never be reached")
				requireNoSecret(t, a)
			})
		}
	}
}

func TestGuardAllowsAllowListed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		host  string
		allow string
	}{
		{"address, single IP", "127.0.0.1", "127.0.0.1"},
		{"hostname localhost", "localhost", "127.0.0.0/8, ::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			allow, err := ParseAllow(tt.allow)
			require.NoError(t, err)
			s, rc := setup(t, Config{Allow: allow}, reply(200, "true"))
			u, err := url.Parse(rc.URL)
			require.NoError(t, err)
			u.Host = tt.host + ":" + u.Port()
			a := s.Deliver(context.Background(), topTarget(u.String()), event)
			require.True(t, a.Delivered, a.Error)
			require.Equal(t, http.StatusOK, a.HTTPStatus)
			require.EqualValues(t, 1, rc.hits.Load())
		})
	}
}

func TestParseAllow(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{"127.0.0.0/8, ::1", []string{"127.0.0.0/8", "::1/128"}},
		{"10.1.2.3", []string{"10.1.2.3/32"}},
		{"127.0.0.1/8", []string{"127.0.0.0/8"}}, // masked
		{"::ffff:127.0.0.1", []string{"127.0.0.1/32"}},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"fe80::1%eth0", []string{"fe80::1/128"}},
		{"10.0.0.0/8,,192.168.0.0/16,", []string{"10.0.0.0/8", "192.168.0.0/16"}},
	}
	for _, tt := range good {
		t.Run("good "+tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAllow(tt.in)
			require.NoError(t, err)
			var want []netip.Prefix
			for _, w := range tt.want {
				want = append(want, netip.MustParsePrefix(w))
			}
			require.Equal(t, want, got)
		})
	}
	bad := []struct{ in, entry string }{
		{"127.0.0.0/8, localhost", "localhost"},
		{"10.0.0.0/33", "10.0.0.0/33"},
		{"::1/129", "::1/129"},
		{"1.2.3", "1.2.3"},
		{"10.0.0.0/8;192.168.0.0/16", "10.0.0.0/8;192.168.0.0/16"},
		{"*", "*"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAllow(tt.in)
			require.ErrorContains(t, err, `"`+tt.entry+`"`)
			require.Nil(t, got)
		})
	}
}
