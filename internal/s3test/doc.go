// Package s3test runs a real S3 API server for tests: versitygw with its
// posix backend in a temporary directory, listening on loopback, one per
// test. Tests that need it skip, loudly, when the versitygw binary is not
// installed, and fail instead when the CI environment variable is set (CI
// installs it: see .ci/run).
//
// The binary is looked up as $WEFT_VERSITYGW, then versitygw on PATH,
// then $GOPATH/bin/versitygw (where go install puts it).
package s3test
