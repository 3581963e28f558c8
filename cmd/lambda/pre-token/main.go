// Command pre-token is the user pool's pre token generation trigger (V2_0): it adds the user's tenant to the access token (docs/aws.md).
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenantstream/tenantstream/handlers/pretoken"
)

func main() {
	lambda.Start(pretoken.Handler{Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))})
}
