package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestTraceReplayMergeMS: a concurrent trace's line carries merge_ms (the
// merge from wire bytes reached endContent), a sequential one's does not.
func TestTraceReplayMergeMS(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "traces")
	for _, tc := range []struct {
		file  string
		merge bool
	}{
		{filepath.Join(dir, "concurrent", "friendsforever.json.gz"), true},
		{filepath.Join(dir, "sequential", "sveltecomponent.json.gz"), false},
	} {
		c := newTraceCmd()
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetArgs([]string{"replay", "--runs", "1", tc.file})
		if err := c.Execute(); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		var f map[string]any
		if err := json.Unmarshal(out.Bytes(), &f); err != nil {
			t.Fatalf("%s: %v: %s", tc.file, err, out.Bytes())
		}
		ms, has := f["merge_ms"].(float64)
		if has != tc.merge || (has && ms <= 0) || f["matches_end"] != true {
			t.Fatalf("%s: %s", tc.file, out.Bytes())
		}
	}
}
