/** GraphQL documents shared by the goodwill tests. */
export const ISSUE = `mutation($input: IssueGoodwillInput!) { issueGoodwill(input: $input) {
  __typename
  ... on IssueGoodwillPayload { status gesture { id status kind points amount { amount currency } value { amount currency }
      reason note caseRef agentId ledgerEntry { id kind amount causeType causeRef } voucher { id kind causeType causeRef value { amount } } } }
  ... on ValidationError { field message }
  ... on Error { message code } } }`;
export const APPROVE = `mutation($input: ApproveGoodwillInput!) { approveGoodwill(input: $input) {
  __typename
  ... on ApproveGoodwillPayload { status gesture { id status decidedBy decisionNote ledgerEntry { id amount } voucher { id } } }
  ... on GoodwillNotPendingError { status }
  ... on Error { message code } } }`;
