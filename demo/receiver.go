package demo

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/notify"
)

// Receiver is the dev process's completion-callback receiver: it verifies
// each callback the way an ISV's server must and keeps the last ones for
// GET /demo/notify/received.
//
//   - POST /demo/notify/top: TOP form, md5 sign with the app's secret;
//     answers "true" when the sign verifies (TOP then stops re-sending)
//   - POST /demo/notify/webhook: Standard Webhooks; 204 when verified
type Receiver struct {
	secrets map[string]string // app_key → secret

	mu       sync.Mutex
	received []Received
}

// Received is one callback the receiver got.
type Received struct {
	At       time.Time       `json:"at"`
	Format   string          `json:"format"`
	AppKey   string          `json:"app_key,omitempty"`
	Verified bool            `json:"verified"`
	Error    string          `json:"error,omitempty"`
	Message  json.RawMessage `json:"message,omitempty"` // TOP message or webhook body
}

const keepReceived = 100

// NewReceiver verifies callbacks for apps.
func NewReceiver(apps []catalog.App) *Receiver {
	r := &Receiver{secrets: map[string]string{}}
	for _, a := range apps {
		r.secrets[a.AppKey] = a.Secret
	}
	return r
}

// Mount adds the receiver's routes.
func (rc *Receiver) Mount(r fiber.Router) {
	r.Post("/demo/notify/top", rc.top)
	r.Post("/demo/notify/webhook", rc.webhook)
	r.Get("/demo/notify/received", func(c *fiber.Ctx) error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return c.JSON(fiber.Map{"received": rc.received})
	})
}

func (rc *Receiver) top(c *fiber.Ctx) error {
	form := map[string]string{}
	c.Request().PostArgs().VisitAll(func(k, v []byte) { form[string(k)] = string(v) })
	rec := Received{At: time.Now(), Format: "top", AppKey: form["app_key"]}
	if json.Valid([]byte(form["message"])) {
		rec.Message = json.RawMessage(form["message"])
	}
	secret, ok := rc.secrets[rec.AppKey]
	switch {
	case !ok:
		rec.Error = "unknown app_key"
	case !notify.VerifyTOP(form, secret):
		rec.Error = "sign does not verify"
	default:
		rec.Verified = true
	}
	rc.keep(rec)
	if !rec.Verified {
		return c.Status(fiber.StatusBadRequest).SendString("false")
	}
	return c.SendString("true")
}

func (rc *Receiver) webhook(c *fiber.Ctx) error {
	body := append([]byte(nil), c.Body()...)
	rec := Received{At: time.Now(), Format: "webhook"}
	if json.Valid(body) {
		rec.Message = body
	}
	// A webhook names no app: accept any demo app's signature.
	var errs []string
	for key, secret := range rc.secrets {
		err := notify.VerifyWebhook(notify.WebhookSecret(secret), c.Get("webhook-id"), c.Get("webhook-timestamp"),
			c.Get("webhook-signature"), body, time.Now())
		if err == nil {
			rec.Verified, rec.AppKey = true, key
			break
		}
		errs = append(errs, err.Error())
	}
	if !rec.Verified {
		rec.Error = strings.Join(errs, "; ")
	}
	rc.keep(rec)
	if !rec.Verified {
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (rc *Receiver) keep(r Received) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.received = append(rc.received, r)
	if len(rc.received) > keepReceived {
		rc.received = rc.received[len(rc.received)-keepReceived:]
	}
}
