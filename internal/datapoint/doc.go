// Package datapoint computes the data points that rule conditions read
// ({"var":"device.isNew"}): from the track itself (IP intelligence, the
// parsed user agent, custom data, the time in the tenant's time zone), the
// user's authenticators, and the user's history (a vigil.RiskState).
//
// The invariant callers rely on: a data point is computed only if a rule
// reads it, at most once per track, and the history is read in one query
// whose parts are exactly those the rules need. A Plan, built once per
// compiled rule set, maps the set's variables to data points and says which
// history parts (Plan.Need) to load before deciding; Points is one track's
// jsonlogic.Data, computing each variable on first read.
//
// Catalogue lists every built-in data point with its type and how it is
// computed; docs/data-points.md documents the same list and a test keeps
// them in step. Besides those, custom.<path> reads the track's custom
// object and user.custom.<path> the stored user's. A variable that is not a
// data point is always missing (null to var, reported by missing).
package datapoint
