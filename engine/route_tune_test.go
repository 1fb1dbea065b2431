package engine

// benchTune keeps BenchmarkRoute's history at a small cap, so that every
// batch past the first few trims as many events as it adds: the steady
// state of a full history, whatever its cap.
func benchTune(c *Config) { c.EventCap = 4096 }
