package api

import "github.com/gin-gonic/gin"

// discoveryRoutes serves what a client needs to find its way (SPEC §3.10):
// the event catalogue (any key) and the OpenAPI document (no key).
func (s *Server) discoveryRoutes() {
	s.User.GET("/event-types", s.eventTypes)
	s.router.GET(OpenAPIRoute, s.openapi)
}

// Routes lists the routes the server serves (those of Config.Extra
// included), for tests that hold the OpenAPI document to them.
func (s *Server) Routes() gin.RoutesInfo { return s.router.Routes() }
