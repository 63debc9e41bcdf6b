package main

import "testing"

// The GC percent bounds the headroom in bytes: a small live heap keeps
// the ceiling, a large one gets gcHeadroom of garbage, a huge one the floor.
func TestGCPercentFor(t *testing.T) {
	cases := []struct {
		live uint64
		max  int
		want int
	}{
		{0, 100, 100},
		{16 << 20, 100, 100}, // 32 MiB of headroom would be 200%: capped
		{32 << 20, 100, 100}, // exactly the headroom
		{64 << 20, 100, 50},  // 32 of 64 MiB
		{144 << 20, 100, 22}, // the hostile suite's daemon after the 2^20 run
		{128 << 20, 50, 25},  // a relay's ceiling is lower
		{32 << 20, 50, 50},   // …and kept for small heaps
		{1 << 30, 100, 10},   // 3% would collect too often: the floor
		{1 << 40, 5, 5},      // a ceiling under the floor wins
	}
	for _, c := range cases {
		if got := gcPercentFor(c.live, gcHeadroom, c.max); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, max %d) = %d, want %d", c.live>>20, c.max, got, c.want)
		}
		if got := gcPercentFor(c.live, gcHeadroom, c.max); c.live > 0 && got > minGCPercent && got < c.max {
			if h := c.live * uint64(got) / 100; h > gcHeadroom {
				t.Errorf("live %d MiB at %d%%: headroom %d MiB > %d", c.live>>20, got, h>>20, gcHeadroom>>20)
			}
		}
	}
}
