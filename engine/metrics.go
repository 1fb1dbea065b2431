package engine

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the engine's Prometheus figures, on their own registry.
type Metrics struct {
	Registry         *prometheus.Registry
	EventsIngested   prometheus.Counter
	EventsRouted     prometheus.Counter
	Deliveries       *prometheus.CounterVec // by webhook and outcome
	DeliveryLatency  prometheus.Histogram   // from event acceptance to the receiver's answer
	AttemptDuration  prometheus.Histogram
	RuleErrors       *prometheus.CounterVec // by webhook
	QueueLength      prometheus.Gauge
	RetryQueueLength prometheus.Gauge
	// RateLimited counts deliveries held back by their webhook's
	// rate_limit, by webhook and where they waited: "memory" (its gate) or
	// "snooze" (the retry set). None of them is an attempt.
	RateLimited *prometheus.CounterVec
	// RateLimitWaiting is how many deliveries wait in gates in this process.
	RateLimitWaiting prometheus.Gauge
	// HostWaits counts deliveries that had room in their webhook's lane but
	// waited for their target host's budget, by host:port.
	HostWaits *prometheus.CounterVec
	// HostBudget is each target host's adaptive concurrency budget in this
	// process, by host:port, once it moved from its start.
	HostBudget *prometheus.GaugeVec
}

// NewMetrics registers the engine's metrics (and Go's runtime collectors) on
// a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assethooks_events_ingested_total", Help: "Events accepted by the API and queued."}),
		EventsRouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assethooks_events_routed_total", Help: "Events the router matched against the rules."}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assethooks_deliveries_total", Help: "Delivery attempts by webhook and outcome (succeeded, retrying, failed)."},
			[]string{"webhook", "outcome"}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "assethooks_delivery_latency_seconds", Help: "From the event's acceptance to a successful answer.",
			Buckets: []float64{.001, .002, .003, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300, 3600}}),
		AttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "assethooks_attempt_duration_seconds", Help: "Duration of one HTTP attempt.",
			Buckets: prometheus.DefBuckets}),
		RuleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assethooks_rule_errors_total", Help: "Conditions that failed at run time (counted as no match), by webhook."},
			[]string{"webhook"}),
		QueueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assethooks_queue_length", Help: "Deliveries waiting for a first attempt, all webhooks."}),
		RetryQueueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assethooks_retry_queue_length", Help: "Deliveries waiting for a retry, all webhooks."}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assethooks_rate_limited_total", Help: "Deliveries held back by their webhook's rate_limit (not attempts), by webhook and where they waited (memory, snooze)."},
			[]string{"webhook", "wait"}),
		RateLimitWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assethooks_rate_limit_waiting", Help: "Deliveries waiting in memory for their webhook's next rate-limit tokens."}),
		HostWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assethooks_host_waits_total", Help: "Deliveries that waited for their target host's concurrency budget, by host:port."},
			[]string{"host"}),
		HostBudget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "assethooks_host_budget", Help: "The adaptive concurrency budget of a target host (host:port) in this process."},
			[]string{"host"}),
	}
	m.Registry.MustRegister(m.EventsIngested, m.EventsRouted, m.Deliveries, m.DeliveryLatency,
		m.AttemptDuration, m.RuleErrors, m.QueueLength, m.RetryQueueLength,
		m.RateLimited, m.RateLimitWaiting, m.HostWaits, m.HostBudget,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
