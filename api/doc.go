// Package api holds the types and errors of weft's local API that the
// replica manager (which implements it) and the ui package (which serves
// it over HTTP) share. It imports nothing else of weft, so the ui package
// can use it without depending on storage or networking.
package api
