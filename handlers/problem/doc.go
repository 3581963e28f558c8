// Package problem turns errors into RFC 9457 application/problem+json responses and decodes JSON request bodies strictly.
package problem
