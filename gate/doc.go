// Package gate is the version gate: it compares what predict says about
// the same scenarios on two Istio lines (two report.json files of
// firstbyte predict) row by row, and says what an upgrade from one to the
// other changes for server-first clients.
//
// Each changed row carries its outcome on both lines in the catalogue's
// words ("connects", "fails reset after 15s") and the decisive step of
// each explain trace (the deciding listener / filter chain → cluster, as
// the report's decision column holds it). A row that connects on FROM and
// does not on TO is a regression; the gate fails (exit 1) on any.
// Outcomes render as Markdown fit for a GitHub step summary, and as JSON.
//
// Building the lines and running predict on each is the caller's
// (firstbyte gate, package istioline); this package only reads reports.
package gate
