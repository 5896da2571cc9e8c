/**
 * Every figure of a `loyaltyMetrics` period (its totals, or one bucket), as the metrics tests ask for it: the
 * selection they compare with loyalty-model.ts's computation.
 */
const RATIO = 'numerator denominator value';
export const FIGURES = `
  from to
  nps { numerator denominator value band promoters passives detractors }
  csat { numerator denominator value band mean { ${RATIO} } }
  firstContactResolution { ${RATIO} percent }
  timeToFirstResponse { ${RATIO} }
  timeToResolution { ${RATIO} }
  renewalRate { ${RATIO} percent }
  members { at active passive suspended closed total activeShare { ${RATIO} } }
  compensation { count value { amount currency } byFailureType { type count value { amount } } }
  goodwill { count value { amount } byReason { reason count value { amount } } }
  voucherRedemption { all { ${RATIO} } byKind { kind rate { ${RATIO} } } }
  churnAfterFailure {
    oneFailure { all { ${RATIO} } compensated { ${RATIO} } notCompensated { ${RATIO} } }
    repeatedFailures { all { ${RATIO} } compensated { ${RATIO} } notCompensated { ${RATIO} } }
  }
  recovery { ${RATIO} }
  detractorConversion { ${RATIO} }`;
