package awstest

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestSharedMotoAnswersAndResets(t *testing.T) {
	m := Shared(t)
	resp, err := http.Get(m.Endpoint + "/moto-api/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, m.Reset(context.Background()))
	require.Same(t, m, Shared(t), "one server per test binary")
}
