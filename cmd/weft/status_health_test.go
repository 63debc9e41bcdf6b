package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"weft/api"
	"weft/obs"
	"weft/ui"
)

// startHealthDaemon is a fake daemon (the ui server over a fake backend)
// that serves health checks as `weft daemon` does.
func startHealthDaemon(t *testing.T, h *obs.Health) *fakeDaemon {
	t.Helper()
	d := startFakeDaemon(t, func(o *ui.Options) { o.Extra = obs.Routes(nil, h) })
	d.fake.SetNode(api.NodeStatus{PeerID: "12D3KooWSelf", Version: "v1"})
	return d
}

func TestStatusShowsHealth(t *testing.T) {
	var broken atomic.Bool
	h := obs.NewHealth(obs.DefaultHealthOptions())
	for _, name := range []string{"storage", "replication"} {
		err := h.Add(name, obs.Simple(func(context.Context) error {
			if name == "storage" && broken.Load() {
				return errors.New("store: probe sync: input/output error")
			}
			return nil
		}), obs.CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	d := startHealthDaemon(t, h)

	out := d.ok(t, "status")
	if !strings.Contains(out, "health         ok\n  replication  ok\n  storage      ok\n") {
		t.Errorf("healthy status:\n%s", out)
	}
	if !strings.Contains(out, "peer ID    12D3KooWSelf\n") {
		t.Errorf("the node table changed:\n%s", out)
	}

	broken.Store(true)
	code, out, errs := d.cli(t, "status")
	if code != 1 || errs != "weft: the daemon is unhealthy: storage failing\n" {
		t.Errorf("unhealthy: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "health         unhealthy\n  replication  ok\n  storage      failing: store: probe sync: input/output error\n") {
		t.Errorf("unhealthy status:\n%s", out)
	}

	code, out, _ = d.cli(t, "status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if code != 1 || st.PeerID != "12D3KooWSelf" || st.Health == nil || st.Health.Status != "unhealthy" ||
		st.Health.Checks["storage"].OK || st.Health.Checks["storage"].Error == "" || !st.Health.Checks["replication"].OK {
		t.Errorf("status --json: exit %d, %+v", code, st)
	}

	broken.Store(false)
	code, out, _ = d.cli(t, "status", "--json")
	st = statusJSON{}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || st.Health == nil || !st.Health.Healthy() {
		t.Errorf("recovered: exit %d, %+v %v", code, st.Health, err)
	}
}

// A daemon without health endpoints (an older one) still gets its status
// shown, and no health line claims anything.
func TestStatusWithoutHealth(t *testing.T) {
	d := startFakeDaemon(t)
	out := d.ok(t, "status")
	if !strings.Contains(out, "health  not reported by this daemon\n") {
		t.Errorf("status:\n%s", out)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(d.ok(t, "status", "--json")), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["health"]; ok {
		t.Errorf("status --json reports health the daemon did not give: %v", raw["health"])
	}
}
