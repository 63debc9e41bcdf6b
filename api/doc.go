// Package api holds the types and errors of weft's local API that the
// replica manager (which implements it) and the ui package (which serves
// it over HTTP) share. Of weft it imports only the leaf package vocab (for
// versions), so the ui package can use it without depending on storage or
// networking.
package api
