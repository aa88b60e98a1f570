// Package top is Taobao TOP's wire protocol as its SDKs speak it: request
// signing, timestamps, error codes and the JSON/XML response shapes.
package top

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"
)

// SignMethod is TOP's sign_method parameter.
type SignMethod string

const (
	SignMD5        SignMethod = "md5"         // MD5(secret + str + secret); the default when absent
	SignHMAC       SignMethod = "hmac"        // HMAC-MD5(secret, str)
	SignHMACSHA256 SignMethod = "hmac-sha256" // HMAC-SHA256(secret, str)
)

// ParseSignMethod accepts TOP's names (case-insensitive); empty means md5.
func ParseSignMethod(s string) (SignMethod, bool) {
	switch strings.ToLower(s) {
	case "", "md5":
		return SignMD5, true
	case "hmac":
		return SignHMAC, true
	case "hmac-sha256":
		return SignHMACSHA256, true
	}
	return "", false
}

// Params are a call's parameters, one value per name (TOP has no repeats).
type Params map[string]string

// SignString is what TOP signs: every parameter but sign, and none with an
// empty value, sorted by name, as name1value1name2value2….
func SignString(p Params) string {
	names := make([]string, 0, len(p))
	for k, v := range p {
		if k == "sign" || v == "" {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteString(p[k])
	}
	return b.String()
}

// Sign computes the upper-case hex signature of p with secret.
func Sign(p Params, secret string, m SignMethod) (string, error) {
	str := SignString(p)
	var h hash.Hash
	switch m {
	case SignMD5, "":
		h = md5.New()
		h.Write([]byte(secret + str + secret))
	case SignHMAC:
		h = hmac.New(md5.New, []byte(secret))
		h.Write([]byte(str))
	case SignHMACSHA256:
		h = hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(str))
	default:
		return "", fmt.Errorf("unknown sign method %q", m)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
}

// Verify reports whether p carries a valid signature for secret, comparing
// in constant time. The sign is compared case-insensitively, as TOP does.
func Verify(p Params, secret string, m SignMethod) bool {
	want, err := Sign(p, secret, m)
	if err != nil {
		return false
	}
	got := strings.ToUpper(p["sign"])
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
