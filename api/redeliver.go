package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/workflows"
)

// adminDeliveries lists a request's callback attempts.
func (s *Server) adminDeliveries(c *fiber.Ctx) error {
	r, err := s.adminRequest(c)
	if err != nil {
		return err
	}
	list, err := s.d.Store.ListNotifyAttempts(c.UserContext(), r.ID)
	if err != nil {
		return internal(err)
	}
	return c.JSON(fiber.Map{"openApiReqId": itoa(r.ID), "notify_state": r.NotifyState, "attempts": list})
}

// adminRedeliver sends a done request's callback again (after it failed, or
// when the app got a notify URL later): the Notify workflow runs anew with
// the full retry budget.
func (s *Server) adminRedeliver(c *fiber.Ctx) error {
	cur, err := s.adminRequest(c)
	if err != nil {
		return err
	}
	id := cur.ID
	if s.d.Temporal == nil {
		return &Error{Status: fiber.StatusServiceUnavailable, Code: CodeUnavailable, Message: "temporal: not connected"}
	}
	r, err := s.d.Store.PrepareRedelivery(c.UserContext(), id)
	if errors.Is(err, store.ErrNotRedeliverable) {
		return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: "notify: " + err.Error()}
	}
	if err != nil {
		return internal(err)
	}
	_, err = s.d.Temporal.ExecuteWorkflow(c.UserContext(), client.StartWorkflowOptions{
		ID: workflows.NotifyWorkflowID(id), TaskQueue: s.d.TaskQueue,
	}, workflows.NotifyName, workflows.NotifyInput{RequestID: id, Policy: s.d.NotifyPolicy})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) { // already running: it delivers
		// Leave the row redeliverable rather than pending forever.
		if ferr := s.d.Store.MarkNotifyFailed(c.UserContext(), id); ferr != nil {
			s.logger(c).Warn("reset notify state", "open_api_req_id", id, "error", ferr)
		}
		return &Error{Status: fiber.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "temporal: could not start the delivery; try again", Err: err}
	}
	s.logger(c).Info("callback redelivery started", "open_api_req_id", id)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"openApiReqId": itoa(id), "notify_state": r.NotifyState})
}

// adminRetry re-runs a done request's failed items only (a new workflow
// run; succeeded items keep their outcome and are not processed again).
func (s *Server) adminRetry(c *fiber.Ctx) error {
	cur, err := s.adminRequest(c)
	if err != nil {
		return err
	}
	r, n, err := s.d.Store.RetryFailedItems(c.UserContext(), cur.ID)
	if errors.Is(err, store.ErrNotRetryable) {
		return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: "retry: " + err.Error()}
	}
	if err != nil {
		return internal(err)
	}
	s.d.Kick()
	s.logger(c).Info("retrying failed items", "open_api_req_id", r.ID, "items", n, "workflow_id", r.WorkflowID)
	m := s.requestView(r)
	m["retried_items"] = n
	return c.Status(fiber.StatusAccepted).JSON(m)
}

// adminCancel cancels a request as its app could.
func (s *Server) adminCancel(c *fiber.Ctx) error {
	r, err := s.adminRequest(c)
	if err != nil {
		return err
	}
	st, err := s.cancel(c, r)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// adminRequest loads the request named by :id.
func (s *Server) adminRequest(c *fiber.Ctx) (store.Request, error) {
	id, err := requestid.Parse(c.Params("id"))
	if err != nil {
		return store.Request{}, badRequest("id: %s", err.Error())
	}
	r, err := s.d.Store.GetRequest(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Request{}, notFound("id: no request " + c.Params("id"))
	}
	if err != nil {
		return store.Request{}, internal(err)
	}
	return r, nil
}
