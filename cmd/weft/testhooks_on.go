//go:build weft_testhooks

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// testHooksBuilt says whether this binary reads its test hooks.
const testHooksBuilt = true

// loadTestHooks reads the test hooks from the environment: this build is
// for the multi-process tests (-tags weft_testhooks).
//
//	WEFT_TEST_FAIL_STORAGE=FILE  the storage check fails while FILE exists
//	WEFT_TEST_DROP_GOSSIP=P      drop this fraction (0..1) of received gossip
//	WEFT_TEST_CPUPROFILE=FILE    write a CPU profile of the run to FILE
//	WEFT_TEST_HEAPPROFILE=PREFIX heap profiles to PREFIX-N.pprof at each SIGUSR1 (and -exit at exit)
//	WEFT_TEST_CLOCK_OFFSET=D     move the replica's clock by D (e.g. +3h, -90m)
func loadTestHooks() (testHooks, error) {
	h := testHooks{
		failStorage: os.Getenv("WEFT_TEST_FAIL_STORAGE"),
		cpuProfile:  os.Getenv("WEFT_TEST_CPUPROFILE"),
		heapProfile: os.Getenv("WEFT_TEST_HEAPPROFILE"),
	}
	if v := os.Getenv("WEFT_TEST_DROP_GOSSIP"); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || p > 1 {
			return h, fmt.Errorf("WEFT_TEST_DROP_GOSSIP=%q: want a fraction between 0 and 1", v)
		}
		h.dropGossip = p
	}
	if v := os.Getenv("WEFT_TEST_CLOCK_OFFSET"); v != "" {
		d, err := time.ParseDuration(strings.TrimPrefix(v, "+"))
		if err != nil {
			return h, fmt.Errorf("WEFT_TEST_CLOCK_OFFSET=%q: want a duration such as +3h or -90m", v)
		}
		h.clockOffset = d
	}
	return h, nil
}
