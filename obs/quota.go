package obs

import "github.com/prometheus/client_golang/prometheus"

// Quota is one of a relay's hosting quotas (replica.QuotaUsage): its
// limit's name and bound (0: none), how many documents (or granting
// members, for a per-member limit) use at least 90% of it and how many
// are at it, the largest usage fraction, and the refusals since start.
type Quota struct {
	Limit       string
	Max         float64
	Near, Over  int
	MaxFraction float64
	Refused     uint64
}

// SetQuotas exports a relay's hosting quotas, read from quotas at each
// scrape (weft_relay_quota*, one series per limit, naming no document).
// Call it once; a daemon does not.
func (m *Metrics) SetQuotas(quotas func() []Quota) error {
	c := &quotaCollector{
		quotas:   quotas,
		limits:   newLabelSet(m.maxReasons),
		max:      prometheus.NewDesc("weft_relay_quota", "The relay's hosting quotas by limit (0: no bound; the txns-* limits per second).", []string{"limit"}, nil),
		near:     prometheus.NewDesc("weft_relay_quota_near", "Documents (or granting members, for a per-member limit) using at least 90% of a quota now.", []string{"limit"}, nil),
		full:     prometheus.NewDesc("weft_relay_quota_full", "Documents (or granting members) at a quota now: what more they send is refused.", []string{"limit"}, nil),
		fraction: prometheus.NewDesc("weft_relay_quota_usage_max_ratio", "The largest share of a quota any document (or granting member) uses now (for a rate: the share of its burst spent).", []string{"limit"}, nil),
		refused:  prometheus.NewDesc("weft_relay_quota_refused_total", "Grants and transactions the relay refused over a quota, by limit (also counted in weft_replica_rejected_total{reason=\"quota\"}).", []string{"limit"}, nil),
	}
	return m.reg.Register(c)
}

// quotaCollector emits the quotas SetQuotas was given.
type quotaCollector struct {
	quotas                             func() []Quota
	limits                             *labelSet
	max, near, full, fraction, refused *prometheus.Desc
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.max, c.near, c.full, c.fraction, c.refused} {
		ch <- d
	}
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, q := range c.quotas() {
		l := c.limits.label(q.Limit)
		if seen[l] {
			continue // a limit beyond the bound: one series each, never two alike
		}
		seen[l] = true
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, q.Max, l)
		ch <- prometheus.MustNewConstMetric(c.near, prometheus.GaugeValue, float64(q.Near), l)
		ch <- prometheus.MustNewConstMetric(c.full, prometheus.GaugeValue, float64(q.Over), l)
		ch <- prometheus.MustNewConstMetric(c.fraction, prometheus.GaugeValue, q.MaxFraction, l)
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(q.Refused), l)
	}
}
