//go:build race

package rules

// raceDetector says whether the race detector is on: it makes sync.Pool
// drop a share of what is put back, so allocation counts over pooled
// storage mean nothing then.
const raceDetector = true
