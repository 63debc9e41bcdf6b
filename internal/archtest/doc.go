// Package archtest holds the test that enforces the import table of
// DESIGN.md ("Packages and what each may import"). It has no other code.
package archtest
