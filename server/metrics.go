package server

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// metrics are one server's Prometheus metrics, in a registry of its own
// so that several servers can live in one process.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	queries  *prometheus.HistogramVec
	ingested *prometheus.CounterVec
	exported *prometheus.CounterVec
	merged   *prometheus.CounterVec
}

// latencyBuckets span 50 µs to 10 s: counts live at the low end, exports
// and ingest at the high end.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cohort_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: latencyBuckets,
		}, []string{"route"}),
		queries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cohort_query_duration_seconds", Help: "Time spent evaluating segment queries (after parsing), by kind.", Buckets: latencyBuckets,
		}, []string{"kind"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_ingest_records_total", Help: "Ingest lines by dataset and outcome (applied or rejected).",
		}, []string{"dataset", "outcome"}),
		exported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_export_profiles_total", Help: "Profiles written by exports, by dataset.",
		}, []string{"dataset"}),
		merged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cohort_profile_merges_total", Help: "Profiles absorbed into others by ingest naming identifiers of both, by dataset.",
		}, []string{"dataset"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.queries, m.ingested, m.exported, m.merged,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		datasetCollector{s})
	return m
}

func (m *metrics) observe(method, route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

func (m *metrics) now() time.Time { return time.Now() }

func (m *metrics) query(kind string, start time.Time) {
	m.queries.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// datasetCollector reports dataset sizes when scraped, from the current
// snapshots, so nothing has to keep gauges up to date.
type datasetCollector struct{ s *Server }

var (
	profilesDesc = prometheus.NewDesc("cohort_dataset_profiles", "Profiles in a dataset.", []string{"dataset"}, nil)
	fieldsDesc   = prometheus.NewDesc("cohort_dataset_fields", "Fields in a dataset's schema.", []string{"dataset"}, nil)
	versionDesc  = prometheus.NewDesc("cohort_dataset_version", "Snapshot version of a dataset (grows with every published batch).", []string{"dataset"}, nil)
)

func (d datasetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- profilesDesc
	ch <- fieldsDesc
	ch <- versionDesc
}

func (d datasetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range d.s.engine.Names() {
		ds, err := d.s.engine.Dataset(name)
		if err != nil {
			continue
		}
		sn := ds.Snapshot()
		ch <- prometheus.MustNewConstMetric(profilesDesc, prometheus.GaugeValue, float64(sn.Profiles()), name)
		ch <- prometheus.MustNewConstMetric(fieldsDesc, prometheus.GaugeValue, float64(len(sn.Schema().Fields)), name)
		ch <- prometheus.MustNewConstMetric(versionDesc, prometheus.GaugeValue, float64(sn.Seq()), name)
	}
}

func (s *Server) serveMetrics(r *request) error {
	families, err := s.metrics.reg.Gather()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType(string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	r.c.SetBody(buf.Bytes())
	return nil
}
