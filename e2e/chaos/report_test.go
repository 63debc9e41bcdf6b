//go:build linux

package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The reports: one per run (run-SEED.json/.md) and a summary of all runs
// (summary.json/.md), in the report directory.

type faultRec struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Detail string `json:"detail,omitempty"`
	AtMS   int64  `json:"at_ms"`
	ForMS  int64  `json:"for_ms"`
	Err    string `json:"error,omitempty"`
	// Seen is what the checks of a full disk observed.
	Seen []string `json:"seen,omitempty"`
}

type schedReport struct {
	Index         int        `json:"index"`
	Faults        []faultRec `json:"faults"`
	Acked         int        `json:"acked_code_points"`
	Found         int        `json:"found_code_points"`
	Lost          int        `json:"lost_code_points"`
	Divergent     bool       `json:"divergent"`
	HealMS        float64    `json:"heal_ms"`
	ConvergenceMS float64    `json:"convergence_ms"`
	// SeenMS is when the successful check's first pass of version reads
	// ended: every daemon held the converged version by then (versions
	// only grow and the check's re-read found it unchanged). The check
	// then reads every text and every version again, which on daemons
	// busy integrating a catch-up can take most of a second;
	// ConvergenceMS (the target's measure) ends after those reads.
	SeenMS float64 `json:"converged_seen_ms"`
	// TCPAtHeal: the nodes whose libp2p connections were in TCP's
	// retransmission backoff when the network healed.
	TCPAtHeal []string `json:"tcp_at_heal,omitempty"`
	// HealedAt is when the network healed (UTC, as in the nodes' logs);
	// Lag, from then until convergence, who lacked what (lagTrace).
	HealedAt string `json:"healed_at"`
	// Backup is the daemon backup taken during the faults.
	Backup     *backupRec `json:"backup,omitempty"`
	Lag        []string   `json:"lag,omitempty"`
	Summary    string     `json:"summary"`
	Violations []string   `json:"violations"`
}

type runReport struct {
	Seed       int64         `json:"seed"`
	Schedules  []schedReport `json:"schedules"`
	Violations []string      `json:"violations"` // end of run: exits, weft check, relay store, backups
	Acked      int           `json:"acked_code_points"`
	Lost       int           `json:"lost_code_points"`
	Divergent  int           `json:"divergent"`
	ConvP50    float64       `json:"convergence_p50_ms"`
	ConvP99    float64       `json:"convergence_p99_ms"`
	ConvMax    float64       `json:"convergence_max_ms"`
}

type summary struct {
	Seeds      []int64        `json:"seeds"`
	Schedules  int            `json:"schedules"`
	Faults     int            `json:"faults"`
	FaultKinds map[string]int `json:"fault_kinds"`
	Acked      int            `json:"acked_code_points"` // at the end of each run
	Lost       int            `json:"lost_code_points"`
	Divergent  int            `json:"divergent"`
	ConvP50    float64        `json:"convergence_p50_ms"`
	ConvP99    float64        `json:"convergence_p99_ms"`
	ConvMax    float64        `json:"convergence_max_ms"`
	Violations []string       `json:"violations"`
	// Backups taken during the faults: restored and checked, or failed
	// (their daemon was killed or paused meanwhile).
	SeenP50         float64 `json:"converged_seen_p50_ms"`
	SeenP99         float64 `json:"converged_seen_p99_ms"`
	SeenMax         float64 `json:"converged_seen_max_ms"`
	seen            []float64
	BackupsRestored int `json:"backups_restored"`
	BackupsFailed   int `json:"backups_failed"`
	conv            []float64
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (r *runReport) finish() {
	var conv []float64
	for _, s := range r.Schedules {
		r.Lost = max(r.Lost, s.Lost) // the model is cumulative over the run
		r.Acked = max(r.Acked, s.Acked)
		if s.Divergent {
			r.Divergent++
		} else {
			conv = append(conv, s.ConvergenceMS)
		}
	}
	r.ConvP50, r.ConvP99, r.ConvMax = quantile(conv, 0.5), quantile(conv, 0.99), quantile(conv, 1)
}

func summarize(runs []*runReport) summary {
	s := summary{FaultKinds: map[string]int{}}
	for _, r := range runs {
		s.Seeds = append(s.Seeds, r.Seed)
		s.Acked += r.Acked
		s.Lost += r.Lost
		s.Divergent += r.Divergent
		for _, v := range r.Violations {
			s.Violations = append(s.Violations, fmt.Sprintf("seed %d: %s", r.Seed, v))
		}
		for _, sc := range r.Schedules {
			s.Schedules++
			s.Faults += len(sc.Faults)
			for _, f := range sc.Faults {
				s.FaultKinds[f.Kind]++
			}
			if !sc.Divergent {
				s.conv = append(s.conv, sc.ConvergenceMS)
				s.seen = append(s.seen, sc.SeenMS)
			}
			switch {
			case sc.Backup == nil:
			case sc.Backup.Err != "":
				s.BackupsFailed++
			case sc.Backup.Restored != "":
				s.BackupsRestored++
			}
			for _, v := range sc.Violations {
				s.Violations = append(s.Violations, fmt.Sprintf("seed %d schedule %d: %s", r.Seed, sc.Index, v))
			}
		}
	}
	s.ConvP50, s.ConvP99, s.ConvMax = quantile(s.conv, 0.5), quantile(s.conv, 0.99), quantile(s.conv, 1)
	s.SeenP50, s.SeenP99, s.SeenMax = quantile(s.seen, 0.5), quantile(s.seen, 0.99), quantile(s.seen, 1)
	return s
}

// writeReport writes v as NAME.json and a Markdown rendering as NAME.md.
func writeReport(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var m strings.Builder
	switch r := v.(type) {
	case *runReport:
		fmt.Fprintf(&m, "# Chaos run, seed %d\n\n", r.Seed)
		fmt.Fprintf(&m, "Repeat: `go test ./e2e/chaos -run TestChaos -chaos.seed=%d -chaos.runs=1 -chaos.schedules=%d`\n\n", r.Seed, len(r.Schedules))
		fmt.Fprintf(&m, "| | |\n|---|---|\n| acknowledged code points | %d |\n| lost | %d |\n| divergent schedules | %d |\n| convergence after heal p50 / p99 / max | %s / %s / %s |\n\n",
			r.Acked, r.Lost, r.Divergent, ms(r.ConvP50), ms(r.ConvP99), ms(r.ConvMax))
		for _, s := range r.Schedules {
			fmt.Fprintf(&m, "## Schedule %d\n\nacknowledged %d, found %d, lost %d; heal %s, convergence %s (state reached by %s)%s\n\n", s.Index, s.Acked, s.Found, s.Lost, ms(s.HealMS), ms(s.ConvergenceMS), ms(s.SeenMS), map[bool]string{true: ", **divergent**"}[s.Divergent])
			fmt.Fprintf(&m, "| fault | target | detail | at | lasted | error | seen |\n|---|---|---|---|---|---|---|\n")
			for _, f := range s.Faults {
				fmt.Fprintf(&m, "| %s | %s | %s | %dms | %dms | %s | %s |\n", f.Kind, f.Target, f.Detail, f.AtMS, f.ForMS, cell(f.Err), cell(strings.Join(f.Seen, "; ")))
			}
			if b := s.Backup; b != nil {
				switch {
				case b.Err != "":
					fmt.Fprintf(&m, "\nBackup of %s during the faults at %dms: failed after %dms (%s)\n", b.Daemon, b.AtMS, b.TookMS, cell(b.Err))
				case b.Restored == "":
					fmt.Fprintf(&m, "\nBackup of %s during the faults at %dms (took %dms): not restored (see the violations)\n", b.Daemon, b.AtMS, b.TookMS)
				default:
					fmt.Fprintf(&m, "\nBackup of %s during the faults at %dms (took %dms): restored, version %s\n", b.Daemon, b.AtMS, b.TookMS, b.Restored)
				}
			}
			if len(s.Lag) > 0 {
				fmt.Fprintf(&m, "\nHealed at %s; until convergence:\n\n", s.HealedAt)
				for _, l := range s.Lag {
					fmt.Fprintf(&m, "    %s\n", l)
				}
			}
			if len(s.TCPAtHeal) > 0 {
				fmt.Fprintf(&m, "\nTCP at the heal: %s\n", strings.Join(s.TCPAtHeal, "; "))
			}
			fmt.Fprintf(&m, "\n%s\n\n", s.Summary)
			for _, v := range s.Violations {
				fmt.Fprintf(&m, "- VIOLATION: %s\n", v)
			}
		}
		if len(r.Violations) > 0 {
			fmt.Fprintf(&m, "## End of run\n\n")
			for _, v := range r.Violations {
				fmt.Fprintf(&m, "- VIOLATION: %s\n", v)
			}
		}
	case summary:
		fmt.Fprintf(&m, "# Chaos summary\n\nseeds %v\n\n| | |\n|---|---|\n| schedules | %d |\n| faults | %d %v |\n| acknowledged code points | %d |\n| lost | %d |\n| divergent | %d |\n| convergence after heal p50 / p99 / max | %s / %s / %s |\n| converged state reached (end of the check's first reads) p50 / p99 / max | %s / %s / %s |\n| daemon backups during faults restored / failed | %d / %d |\n| violations | %d |\n\n",
			r.Seeds, r.Schedules, r.Faults, r.FaultKinds, r.Acked, r.Lost, r.Divergent, ms(r.ConvP50), ms(r.ConvP99), ms(r.ConvMax), ms(r.SeenP50), ms(r.SeenP99), ms(r.SeenMax), r.BackupsRestored, r.BackupsFailed, len(r.Violations))
		for _, v := range r.Violations {
			fmt.Fprintf(&m, "- %s\n", v)
		}
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(m.String()), 0o644)
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
