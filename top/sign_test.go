package top

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Vectors computed outside this code: the first is the worked example of
// TOP's signing documentation; the others were computed with Python's
// hashlib/hmac over the same sorted string.
func TestSignVectors(t *testing.T) {
	t.Parallel()
	docExample := Params{"method": "taobao.item.seller.get", "app_key": "12345678", "session": "test",
		"timestamp": "2016-01-01 12:00:00", "format": "json", "v": "2.0", "sign_method": "md5",
		"fields": "num_iid,title,nick,price,num", "num_iid": "11223344"}
	ats := func(method string) Params {
		return Params{"method": "taobao.topats.trades.fullinfo.get", "app_key": "12345678", "timestamp": "2026-11-24 12:00:00",
			"v": "2.0", "format": "json", "tids": "1001,1002", "fields": "tid,status", "session": "", "sign_method": method}
	}
	noMethod := ats("")
	delete(noMethod, "sign_method")
	tests := []struct {
		name   string
		p      Params
		secret string
		m      SignMethod
		want   string
	}{
		{"TOP documentation example (md5)", docExample, "helloworld", SignMD5, "66987CB115214E59E6EC978214934FB8"},
		{"md5", ats("md5"), "helloworld", SignMD5, "1B092EA5093134F555BAC434DC2AFC26"},
		{"hmac (HMAC-MD5)", ats("hmac"), "helloworld", SignHMAC, "BAC4E928A9D4B4BDE1BDA154633FCCFA"},
		{"hmac-sha256", ats("hmac-sha256"), "helloworld", SignHMACSHA256, "9D06277DBD3A4F21AF3722F0A55770DE7943E1AA2CC59582AFBABD1EB1FBFE68"},
		{"no sign_method means md5; empty values skipped", noMethod, "helloworld", SignMD5, "DA3D9452B2A0C3F3048781F78851FB0A"},
		{"UTF-8 values signed as bytes", Params{"app_key": "k", "method": "m", "name": "测试 a&b=c", "v": "2.0"}, "s", SignMD5, "9C5670478A58E376355895B4A504C1CB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Sign(tc.p, tc.secret, tc.m)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)

			signed := Params{"sign": strings.ToLower(got)}
			for k, v := range tc.p {
				signed[k] = v
			}
			require.True(t, Verify(signed, tc.secret, tc.m), "lower-case sign verifies too")
			require.False(t, Verify(signed, tc.secret+"x", tc.m), "wrong secret")
			signed["v"] = "2.1"
			require.False(t, Verify(signed, tc.secret, tc.m), "tampered parameter")
		})
	}
}

func TestSignStringSkipsSignAndEmpty(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a1b2", SignString(Params{"b": "2", "a": "1", "sign": "X", "c": ""}))
	_, err := Sign(Params{}, "s", "sha1")
	require.Error(t, err)
	for in, want := range map[string]SignMethod{"": SignMD5, "MD5": SignMD5, "hmac": SignHMAC, "HMAC-SHA256": SignHMACSHA256} {
		got, ok := ParseSignMethod(in)
		require.True(t, ok, in)
		require.Equal(t, want, got)
	}
	_, ok := ParseSignMethod("sha1")
	require.False(t, ok)
}
