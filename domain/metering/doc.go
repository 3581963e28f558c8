// Package metering defines usage records: the built-in meters and the usage.recorded event.
package metering
