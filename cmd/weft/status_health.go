package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"

	"weft/api"
	"weft/obs"
)

// maxHealthBytes bounds the daemon's /readyz reply.
const maxHealthBytes = 1 << 20

// statusJSON is `weft status --json`: the node's status with its health.
type statusJSON struct {
	api.NodeStatus
	Health *obs.Report `json:"health,omitempty"`
}

// health runs the daemon's checks (GET /readyz). It returns nil, nil when
// the daemon serves no health checks (an older daemon).
func (c *apiClient) health(ctx context.Context) (*obs.Report, error) {
	resp, b, err := c.send(ctx, "GET", obs.PathReady, nil, maxHealthBytes, "health report")
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusServiceUnavailable:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, withCode(1, fmt.Errorf("the daemon at %s answered %s to GET %s", c.base, resp.Status, obs.PathReady))
	}
	var rep obs.Report
	if err := json.Unmarshal(b, &rep); err != nil || (rep.Status != obs.StatusOK && rep.Status != obs.StatusUnhealthy) {
		return nil, withCode(1, fmt.Errorf("the daemon's health report is malformed (HTTP %d)", resp.StatusCode))
	}
	if (resp.StatusCode == http.StatusOK) != rep.Healthy() {
		return nil, withCode(1, fmt.Errorf("the daemon's health report says %q with HTTP %d", rep.Status, resp.StatusCode))
	}
	return &rep, nil
}

// printHealth prints the health summary of `weft status`: the overall
// status, then a line per check (a table of its own, so that long check
// names do not widen the one above).
func printHealth(w io.Writer, rep *obs.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if rep == nil {
		fmt.Fprintf(tw, "health\tnot reported by this daemon\n")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "health\t%s\n", rep.Status)
	names := make([]string, 0, len(rep.Checks))
	for n := range rep.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := rep.Checks[n]
		if c.OK {
			fmt.Fprintf(tw, "  %s\tok\n", n)
		} else {
			fmt.Fprintf(tw, "  %s\tfailing: %s\n", n, oneLine(c.Error))
		}
	}
	return tw.Flush()
}

// unhealthy is the error `weft status` exits with when a check fails.
func unhealthy(rep *obs.Report) error {
	if rep == nil || rep.Healthy() {
		return nil
	}
	return withCode(1, fmt.Errorf("the daemon is unhealthy: %s failing", strings.Join(rep.Failing(), ", ")))
}
