package demo

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// MountSyncAPI serves the synchronous endpoint the demo HTTP-forward API
// calls: POST /demo/sync/inventory/reserve with {"sku":…,"qty":…}.
//
//   - sku FLAKY-…: 503 on the first attempt (X-Asyncgate-Attempt: 1), then OK
//   - sku SLOW-…: answers after 3 s, beyond the API's 1 s timeout
//   - qty > 1000: 409 {"sub_code":"demo.insufficient_stock",…}
func MountSyncAPI(r fiber.Router) {
	r.Post("/demo/sync/inventory/reserve", reserve)
}

func reserve(c *fiber.Ctx) error {
	var in struct {
		SKU string `json:"sku"`
		Qty int64  `json:"qty"`
	}
	if err := c.BodyParser(&in); err != nil || in.SKU == "" {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"sub_code": "demo.bad_request", "sub_msg": "body must be {\"sku\":string,\"qty\":integer}"})
	}
	switch {
	case strings.HasPrefix(in.SKU, "FLAKY-") && c.Get("X-Asyncgate-Attempt") == "1":
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "inventory service warming up"})
	case strings.HasPrefix(in.SKU, "SLOW-"):
		select {
		case <-time.After(3 * time.Second):
		case <-c.UserContext().Done():
		}
	case in.Qty > 1000:
		return c.Status(fiber.StatusConflict).JSON(fiber.Map{"sub_code": "demo.insufficient_stock",
			"sub_msg": "only 1000 in stock for " + in.SKU})
	}
	// Built as a struct so the field order is stable.
	return c.JSON(struct {
		ReservationID string `json:"reservation_id"`
		SKU           string `json:"sku"`
		Qty           int64  `json:"qty"`
	}{"R-" + in.SKU + "-" + strconv.FormatInt(in.Qty, 10), in.SKU, in.Qty})
}
