//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// Outside the browser there is nothing to run: the module is built with
// GOOS=js GOARCH=wasm (make ui). Tab is tested natively.
func main() {
	fmt.Fprintln(os.Stderr, "weft's editor module runs in the browser: build it with GOOS=js GOARCH=wasm (make ui)")
	os.Exit(2)
}
