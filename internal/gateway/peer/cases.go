package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// Act asks the peer to take the sender's action (Clarify or Withdraw) on a request
// this State sent; the peer answers with its signed status update, returned
// unverified (the caller verifies it against the updates it holds).
func (c *Client) Act(ctx context.Context, peerRequestID string, action wire.CaseAction) (string, error) {
	body, err := json.Marshal(action)
	if err != nil {
		return "", err
	}
	status, answer, err := c.call(ctx, http.MethodPost, wire.PathRequests+"/"+peerRequestID+"/transitions", body)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", refusal(status, answer)
	}
	var u wire.CaseUpdate
	if err := json.Unmarshal(answer, &u); err != nil || u.Update == "" {
		return "", fmt.Errorf("peer %s answered %d with a body that is not a status update", c.Party, status)
	}
	return u.Update, nil
}

// RequestState reads the state of a request this State sent, with every status
// update the peer signed for it (unverified).
func (c *Client) RequestState(ctx context.Context, peerRequestID string) (*wire.RequestState, error) {
	status, answer, err := c.call(ctx, http.MethodGet, wire.PathRequests+"/"+peerRequestID, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, refusal(status, answer)
	}
	var rs wire.RequestState
	if err := json.Unmarshal(answer, &rs); err != nil {
		return nil, fmt.Errorf("peer %s answered a request state that does not decode: %w", c.Party, err)
	}
	return &rs, nil
}

// Push hands the peer (the request's sender) a status update this State signed.
func (c *Client) Push(ctx context.Context, update string) error {
	body, err := json.Marshal(wire.CaseUpdate{Update: update})
	if err != nil {
		return err
	}
	status, answer, err := c.call(ctx, http.MethodPost, wire.PathUpdates, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return refusal(status, answer)
	}
	return nil
}

func (c *Client) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, c.url(path), rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, c.url(path), nil)
	}
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, answer, err := c.do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrPeerUnavailable, err)
	}
	if status >= 300 && status < 400 {
		return 0, nil, fmt.Errorf("%w: it answered a redirect (%d), which is not followed", ErrPeerUnavailable, status)
	}
	if status >= 500 {
		return 0, nil, fmt.Errorf("%w: it answered %d: %w", ErrPeerUnavailable, status, refusal(status, answer))
	}
	return status, answer, nil
}

// JointItems lists what the peer shares for a joint investigation.
func (c *Client) JointItems(ctx context.Context, caseID string) (*wire.JointItems, error) {
	status, answer, err := c.call(ctx, http.MethodGet, wire.PathJoint+caseID+"/evidence", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, refusal(status, answer)
	}
	var items wire.JointItems
	if err := json.Unmarshal(answer, &items); err != nil {
		return nil, fmt.Errorf("peer %s answered a list that does not decode: %w", c.Party, err)
	}
	return &items, nil
}

// JointItem fetches one item the peer shares for a joint investigation, at most
// limit bytes; the caller checks it against its digest.
func (c *Client) JointItem(ctx context.Context, caseID, hexDigest string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(wire.PathJoint+caseID+"/evidence/"+hexDigest), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPeerUnavailable, describeDialError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the item: %w", ErrPeerUnavailable, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("the item is larger than %d bytes", limit)
	}
	if resp.StatusCode != http.StatusOK {
		if len(body) > maxAnswer {
			body = body[:maxAnswer]
		}
		return nil, refusal(resp.StatusCode, body)
	}
	return body, nil
}
