package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asyncgate/asyncgate/top"
)

// WebhookTolerance is how far a webhook's timestamp may be from the
// receiver's clock before VerifyWebhook refuses it (replay protection).
const WebhookTolerance = 5 * time.Minute

// VerifyWebhook checks a Standard Webhooks message as a receiver must:
// secret is the whsec_ secret (or the raw app secret); signature is the
// webhook-signature header, which may list several space-separated
// "v1,<base64>" signatures, any of which may match.
func VerifyWebhook(secret, id, timestamp, signature string, body []byte, now time.Time) error {
	key, err := webhookKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a unix time")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return fmt.Errorf("webhook-timestamp is %s away from now", d.Round(time.Second))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(signature) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no webhook-signature matches")
}

// VerifyTOP checks a TOP-format callback's form fields: sign is TOP's md5
// signature over the other fields with the app secret.
func VerifyTOP(form map[string]string, secret string) bool {
	return top.Verify(top.Params(form), secret, top.SignMD5)
}
