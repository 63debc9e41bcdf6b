//go:build !weft_testhooks

package main

// testHooksBuilt says whether this binary reads its test hooks.
const testHooksBuilt = false

// loadTestHooks returns no hooks: the shipped binary reads no WEFT_TEST_*
// variable (see testhooks_on.go for the build the e2e tests use).
func loadTestHooks() (testHooks, error) { return testHooks{}, nil }
