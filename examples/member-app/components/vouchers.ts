import { graphql, readFragment, type FragmentType } from '../gql/index.js';

/** One voucher in the wallet. */
export const VoucherCardFragment = graphql(`
  fragment VoucherCard_voucher on Voucher {
    id
    code
    kind
    expiresAt
    value {
      amount
      currency
    }
  }
`);

/** The wallet: vouchers ready to use, each drawn by the voucher card. */
export const VouchersFragment = graphql(`
  fragment Vouchers_member on Member {
    id
    vouchers(first: 5, status: ISSUED) {
      edges {
        node {
          id
          ...VoucherCard_voucher
        }
      }
    }
  }
`);

function voucherCard(data: FragmentType<typeof VoucherCardFragment>): string {
  const voucher = readFragment(VoucherCardFragment, data);
  const value = voucher.value ? `${voucher.value.amount} ${voucher.value.currency}` : 'a discount';
  return `  ${voucher.code}: ${value} (${voucher.kind}), until ${voucher.expiresAt.slice(0, 10)}`;
}

export function voucherWallet(data: FragmentType<typeof VouchersFragment>): string[] {
  const { edges } = readFragment(VouchersFragment, data).vouchers;
  return [`vouchers: ${edges.length === 0 ? 'none' : edges.length}`, ...edges.map((edge) => voucherCard(edge.node))];
}
