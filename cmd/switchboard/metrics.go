package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-sip/switchboard/sqlstore"
)

// newRegistry is the process's metrics registry: Go runtime, process,
// database pools and endpoints by type (the HTTP metrics are added by the
// API server).
func newRegistry(db *sqlstore.DB) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for role, pool := range db.Pools() {
		reg.MustRegister(collectors.NewDBStatsCollector(pool, "switchboard_"+role))
	}
	reg.MustRegister(endpointsByType{db})
	return reg
}

var endpointsDesc = prometheus.NewDesc("switchboard_endpoints", "Endpoints stored, by type (all partners).", []string{"type"}, nil)

// endpointsByType counts endpoints at each scrape.
type endpointsByType struct{ db *sqlstore.DB }

func (c endpointsByType) Describe(ch chan<- *prometheus.Desc) { ch <- endpointsDesc }

func (c endpointsByType) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.db.CountEndpointsByType(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(endpointsDesc, err)
		return
	}
	for t, n := range counts {
		ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, float64(n), t)
	}
}
