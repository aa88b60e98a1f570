package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// consoleFiles is the operator console: static HTML, CSS and JavaScript
// over the admin API, embedded so running it needs no build step.
//
//go:embed console
var consoleFiles embed.FS

func (s *Server) consoleRoutes() {
	sub, _ := fs.Sub(consoleFiles, "console") // the directory is embedded: cannot fail
	s.app.Use("/console", func(c *fiber.Ctx) error {
		// The page holds no secret; the admin token is asked for in it.
		c.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		c.Set("X-Content-Type-Options", "nosniff")
		return c.Next()
	}, filesystem.New(filesystem.Config{Root: http.FS(sub), Index: "index.html"}))
}
