//go:build !race

package testenv

// RaceDetector: see race.go.
const RaceDetector = false
