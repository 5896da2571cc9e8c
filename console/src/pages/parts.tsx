import { useId, type ReactNode } from 'react';
import type { CombinedError } from 'urql';
import { graphql } from '../gql';
import { useI18n, type MessageKey } from '../i18n';
import { UserText } from '../user-text';

/**
 * What the console reads of a mutation's typed error: spread as `...MutationError` into every result
 * union, so that each page shows a ValidationError at its field and any other error's message.
 */
export const MutationError = graphql(`
  fragment MutationError on Error {
    __typename
    message
    ... on ValidationError {
      field
    }
  }
`);

/**
 * A request that failed as a whole (network, masked error): said where the answer would have been. The API's
 * message is isolated like a user's string: it can quote the value that was refused.
 */
export function ApiError({ error }: { error: CombinedError | undefined }) {
  const { t, tx } = useI18n();
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error.networkError
        ? t('error.network')
        : tx('error.request', { message: <UserText>{error.graphQLErrors[0]?.message ?? ''}</UserText> })}
    </p>
  );
}

/** A typed error of a mutation's result union, for the messages the console shows. */
export interface TypedError {
  __typename: string;
  message?: string;
  field?: string;
}

/** A mutation's answer: its payload, or a typed error to show (a ValidationError at its field). */
export function errorOf(result: { __typename: string } | undefined, payload: string): TypedError | undefined {
  if (!result || result.__typename === payload) return undefined;
  return result as TypedError;
}

/** The error of one field (a ValidationError naming it), shown under that field. */
export function FieldError({ error, field, id }: { error: TypedError | undefined; field: string; id: string }) {
  if (!error || error.__typename !== 'ValidationError' || error.field !== field) return null;
  return (
    <span className="field-error" id={id} role="alert">
      <UserText>{error.message}</UserText>
    </span>
  );
}

/** Any other typed error: a ForbiddenError, NotFoundError, … or a ValidationError of a field the form does not have. */
export function FormError({ error, fields }: { error: TypedError | undefined; fields: string[] }) {
  const { t } = useI18n();
  if (!error || (error.__typename === 'ValidationError' && error.field && fields.includes(error.field))) return null;
  return (
    <p className="error" role="alert">
      {error.__typename === 'ForbiddenError' ? (
        t('error.forbidden')
      ) : error.message ? (
        <UserText>{error.message}</UserText>
      ) : (
        t('error.unknown')
      )}
    </p>
  );
}

/**
 * A `<select>` of an enum's values, each labelled by the catalogue's `<prefix>.<value>`: the type checks
 * that the catalogue has a word for every value.
 */
export function EnumSelect<V extends string, P extends string>({
  label,
  prefix,
  options,
  value,
  onChange,
  describedBy,
}: {
  label: string;
  prefix: `${P}.${V}` extends MessageKey ? P : never;
  options: readonly V[];
  value: V;
  onChange: (value: V) => void;
  describedBy?: string;
}) {
  const { t } = useI18n();
  return (
    <label className="field">
      <span>{label}</span>
      <select value={value} onChange={(event) => onChange(event.target.value as V)} aria-describedby={describedBy}>
        {options.map((option) => (
          <option key={option} value={option}>
            {t(`${prefix}.${option}` as MessageKey)}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Card({ title, children, className }: { title: string; children: ReactNode; className?: string }) {
  const id = useId();
  return (
    <section className={`card ${className ?? ''}`} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** A list as a table with its column heads, or the sentence that says it is empty. */
export function Table({
  testId,
  heads,
  empty,
  children,
}: {
  testId: string;
  /** Column heads; `num` right-aligns a column of figures. */
  heads: (string | { label: string; num: true })[];
  empty: string;
  children: ReactNode[];
}) {
  if (children.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            {heads.map((head) =>
              typeof head === 'string' ? (
                <th scope="col" key={head}>
                  {head}
                </th>
              ) : (
                <th scope="col" className="num" key={head.label}>
                  {head.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** A new idempotency key per submitted form: a retried request (double click, network) has one effect. */
export function newIdempotencyKey(prefix: string): string {
  return `console-${prefix}-${crypto.randomUUID()}`;
}
