// Package wire builds the Lambda functions' handlers from environment variables, so each main stays a few lines.
package wire
