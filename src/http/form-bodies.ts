import type { Plugin } from 'graphql-yoga';

/** The form encodings yoga would parse a POST's GraphQL parameters from (the first entry of Content-Type, as yoga reads it). */
const FORM_TYPES = ['multipart/form-data', 'application/x-www-form-urlencoded'];

/**
 * POSTs to /graphql with a form body are refused with 415, unread, as yoga refuses a body type it has no parser
 * for. Treue takes no uploads (the GraphQL multipart request spec) and none of its clients posts forms (the console
 * and the apps send JSON or GET); both are types a browser sends cross-site without a CORS preflight. yoga's
 * multipart parser is off as well (`multipart: false`); its form-urlencoded parser has no option: this refuses
 * before it runs.
 */
export function refuseFormBodies(): Plugin {
  return {
    onRequestParse: ({ request, endResponse, fetchAPI }) => {
      if (request.method !== 'POST') return;
      const contentType = request.headers.get('content-type')?.split(',')[0]?.trim().toLowerCase();
      if (contentType === undefined) return;
      if (FORM_TYPES.some((type) => contentType === type || contentType.startsWith(`${type};`))) {
        endResponse(new fetchAPI.Response(null, { status: 415, statusText: 'Unsupported Media Type' }));
      }
    },
  };
}
