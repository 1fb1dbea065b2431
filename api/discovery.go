package api

// discoveryRoutes serves what a client needs to find its way (SPEC §3.10):
// the event catalogue (any key).
func (s *Server) discoveryRoutes() {
	s.User.GET("/event-types", s.eventTypes)
}
