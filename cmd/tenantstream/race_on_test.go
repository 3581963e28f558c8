//go:build race

package main

// raceDetector is whether the tests run with -race, which multiplies the CPU
// cost of every request several times over: latency ratios measured under it
// measure the detector (TestNoisyNeighbourDoesNotSlowAnotherTenant).
const raceDetector = true
