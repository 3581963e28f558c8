// Package emf writes CloudWatch Embedded Metric Format log lines, from which CloudWatch Logs extracts metrics.
package emf
