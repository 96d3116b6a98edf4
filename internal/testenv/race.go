//go:build race

package testenv

// RaceDetector says whether the race detector is on. It makes sync.Pool
// drop a share of what is put back, so allocation counts over pooled
// storage mean nothing then.
const RaceDetector = true
