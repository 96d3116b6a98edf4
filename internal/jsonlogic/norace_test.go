//go:build !race

package jsonlogic

// raceDetector: see race_test.go.
const raceDetector = false
