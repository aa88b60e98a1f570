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
	r.Post("/demo/sync/inventory/reserve-batch", reserveBatch)
}

// reserveBatch is the batched form: {"items":[{sku, qty}…]} answered by
// {"results":[…]} in order; an item with qty > 1000 gets its own
// {"sub_code":"demo.insufficient_stock",…}; the header X-Asyncgate-Items
// is echoed so tests can see the chunking.
func reserveBatch(c *fiber.Ctx) error {
	var in struct {
		Items []struct {
			SKU string `json:"sku"`
			Qty int64  `json:"qty"`
		} `json:"items"`
	}
	if err := c.BodyParser(&in); err != nil || len(in.Items) == 0 {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"sub_code": "demo.bad_request", "sub_msg": "body must be {\"items\":[…]}"})
	}
	results := make([]any, len(in.Items))
	for i, it := range in.Items {
		if it.Qty > 1000 {
			results[i] = fiber.Map{"sub_code": "demo.insufficient_stock", "sub_msg": "only 1000 in stock for " + it.SKU}
			continue
		}
		results[i] = struct {
			ReservationID string `json:"reservation_id"`
			SKU           string `json:"sku"`
			Qty           int64  `json:"qty"`
			Batch         string `json:"batch"`
		}{"R-" + it.SKU + "-" + strconv.FormatInt(it.Qty, 10), it.SKU, it.Qty, c.Get("X-Asyncgate-Items")}
	}
	return c.JSON(fiber.Map{"results": results})
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
