import { createContext, Fragment, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { de } from './de';
import { en } from './en';

/**
 * The console's words, German and English, as two typed catalogues: the English one defines the keys,
 * the German one must have exactly these (its type says so, and tests/console/catalogues.test.ts checks
 * it at run time too). Dates, numbers and money go through `Intl` for the chosen locale.
 */
export type MessageKey = keyof typeof en;
export type Catalogue = Record<MessageKey, string>;
export const LOCALES = ['de', 'en'] as const;
export type Locale = (typeof LOCALES)[number];
export const catalogues: Record<Locale, Catalogue> = { de, en };

const LOCALE_KEY = 'treue.console.locale';

/** `{name}` placeholders filled from `params`; a missing parameter stays visible as `{name}`. */
export function translate(locale: Locale, key: MessageKey, params: Record<string, string | number> = {}): string {
  return catalogues[locale][key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/**
 * `translate` with elements for placeholders, for a sentence that holds a user's string: it goes in as
 * `<UserText>` (src/user-text.tsx) and stays in its own isolate, which a plain string cannot give it.
 */
export function translateWith(locale: Locale, key: MessageKey, params: Record<string, ReactNode>): ReactNode {
  // split with a capturing group: the texts between placeholders at even indexes, the placeholders' names at odd ones.
  const parts = catalogues[locale][key].split(/\{(\w+)\}/);
  return (
    <>
      {parts.map((part, index) =>
        index % 2 === 0 ? part : <Fragment key={index}>{part in params ? params[part] : `{${part}}`}</Fragment>,
      )}
    </>
  );
}

export interface I18n {
  locale: Locale;
  setLocale(locale: Locale): void;
  t(key: MessageKey, params?: Record<string, string | number>): string;
  /** `t` for a sentence with a user's string in it: that parameter given as `<UserText>`. */
  tx(key: MessageKey, params: Record<string, ReactNode>): ReactNode;
  date(value: string | null | undefined): string;
  dateTime(value: string | null | undefined): string;
  number(value: number): string;
  percent(value: number | null | undefined): string;
  money(value: { amount: string; currency: string } | null | undefined): string;
  points(value: number): string;
  /**
   * A whole number as an agent types it in this locale: digits, or digits grouped in threes by the locale's
   * thousands separator or a space ("1.000" in German, "1,000" in English); NaN for anything else ("1,5", "1.5",
   * "12abc", "1e3", "-5"), which is not read as another number.
   */
  wholeNumber(text: string): number;
  /**
   * A number as an agent types it in this locale, as the exact decimal string to send ("-1", "1000", "12.5"); undefined
   * for anything it cannot read (`decimalText`).
   */
  decimal(text: string): string | undefined;
  /** A number (or the API's decimal string) as a form's field shows it to be edited in this locale: "1,5" in German. */
  numberText(value: number | string): string;
  /** A tier's name: the catalogue's word for the default program's keys (BRONZE …), else the name the program gives it. */
  tierName(tier: { key: string; name: string }): string;
}

/** The separators an agent types in each locale: thousands (besides a space, a no-break space or a narrow one) and decimals. */
const SEPARATORS: Record<Locale, { group: string; decimal: string }> = {
  de: { group: '.', decimal: ',' },
  en: { group: ',', decimal: '.' },
};

/** An unsigned whole number's digits: plain, or grouped in threes by the locale's thousands separator or a space. */
function integerDigits(value: string, locale: Locale): string | undefined {
  if (/^\d+$/.test(value)) return value;
  for (const separator of [SEPARATORS[locale].group, ' ', '\u00a0', '\u202f']) {
    const [first, ...groups] = value.split(separator);
    // A first group of "0" groups nothing: German "0.125" is not 125.
    if (groups.length > 0 && /^[1-9]\d{0,2}$/.test(first!) && groups.every((group) => /^\d{3}$/.test(group))) {
      return [first, ...groups].join('');
    }
  }
  return undefined;
}

export function wholeNumber(text: string, locale: Locale): number {
  const digits = integerDigits(text.trim(), locale);
  return digits === undefined ? Number.NaN : Number(digits);
}

/**
 * A number as an agent types it in this locale, as an exact decimal string for the API ("-1", "1000", "12.5"): an
 * optional minus sign, the whole part as `wholeNumber` reads it, and optionally the locale's decimal separator with
 * digits ("12,50" in German, "12.50" in English). Undefined for anything else, which a form refuses at its field
 * rather than read as another number: "1e3", "12abc", "0x10", "Infinity", "", "9,5" in English (a comma groups
 * thousands there), "9.5" in German (a point does). Not Number() or parseFloat: they read "1e3" as 1 000, "12abc" as
 * 12, and the other language's "1,000" as 1.
 */
export function decimalText(text: string, locale: Locale): string | undefined {
  const value = text.trim();
  const sign = value.startsWith('-') || value.startsWith('\u2212') ? '-' : '';
  const unsigned = sign ? value.slice(1) : value;
  const at = unsigned.lastIndexOf(SEPARATORS[locale].decimal);
  const whole = at === -1 ? unsigned : unsigned.slice(0, at);
  const fraction = at === -1 ? '' : unsigned.slice(at + 1);
  if (at !== -1 && !/^\d+$/.test(fraction)) return undefined;
  // ",5" is 0.5; "" and "-" are no number.
  const digits = whole === '' && at !== -1 ? '0' : integerDigits(whole, locale);
  if (digits === undefined) return undefined;
  // Leading zeros and a fraction's trailing ones are dropped: "007" is 7 and "12,500" is 12.5, which a money amount
  // of two decimal places takes.
  const fractionDigits = fraction.replace(/0+$/, '');
  return `${sign}${digits.replace(/^0+(?=\d)/, '')}${fractionDigits ? `.${fractionDigits}` : ''}`;
}

/** Plain digits with a point, never an exponent: 0.0000001 as "0.0000001". */
const PLAIN = new Intl.NumberFormat('en', { useGrouping: false, maximumFractionDigits: 20 });

/** A number or decimal string as a field shows it to be edited in this locale (no grouping): 1.5 as German "1,5". */
export function numberText(value: number | string, locale: Locale): string {
  const plain = typeof value === 'number' ? PLAIN.format(value) : value;
  return locale === 'de' ? plain.replace('.', ',') : plain;
}

/**
 * A number's text typed in one language as the same number in another ("12,500" in German is "12.5" in English, not
 * twelve thousand five hundred); a text the first cannot read is left as it is (the form refuses it at its field).
 */
export function retypeNumber(text: string, from: Locale, to: Locale): string {
  const exact = from === to ? undefined : decimalText(text, from);
  return exact === undefined ? text : numberText(exact, to);
}

/**
 * Calls `retype(from, to)` when the page's language changes: a form holding numbers typed in the old language rewrites
 * them in the new one (`retypeNumber`), so none is read by the other language's rule.
 */
export function useLanguageChange(retype: (from: Locale, to: Locale) => void): void {
  const { locale } = useI18n();
  const previous = useRef(locale);
  useEffect(() => {
    if (previous.current === locale) return;
    const from = previous.current;
    previous.current = locale;
    retype(from, locale);
  }, [locale, retype]);
}

const I18nContext = createContext<I18n | undefined>(undefined);

function initialLocale(): Locale {
  const stored = localStorage.getItem(LOCALE_KEY);
  if (stored === 'de' || stored === 'en') return stored;
  return navigator.language.toLowerCase().startsWith('de') ? 'de' : 'en';
}

export function I18nProvider({ children, locale: fixed }: { children: ReactNode; locale?: Locale }) {
  const [locale, setLocaleState] = useState<Locale>(() => fixed ?? initialLocale());
  const setLocale = useCallback((next: Locale) => {
    // Not a secret: the language choice survives a reload, the token does not.
    localStorage.setItem(LOCALE_KEY, next);
    document.documentElement.lang = next;
    setLocaleState(next);
  }, []);
  const value = useMemo<I18n>(() => {
    document.documentElement.lang = locale;
    const tag = locale === 'de' ? 'de-DE' : 'en-GB';
    const dateFormat = new Intl.DateTimeFormat(tag, { dateStyle: 'medium' });
    const dateTimeFormat = new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeStyle: 'short' });
    const numberFormat = new Intl.NumberFormat(tag);
    const percentFormat = new Intl.NumberFormat(tag, { maximumFractionDigits: 1 });
    const moneyFormats = new Map<string, Intl.NumberFormat>();
    return {
      locale,
      setLocale,
      t: (key, params) => translate(locale, key, params),
      tx: (key, params) => translateWith(locale, key, params),
      date: (value) => (value ? dateFormat.format(new Date(value)) : '–'),
      dateTime: (value) => (value ? dateTimeFormat.format(new Date(value)) : '–'),
      number: (value) => numberFormat.format(value),
      percent: (value) => (value === null || value === undefined ? '–' : `${percentFormat.format(value)} %`),
      money: (value) => {
        if (!value) return '–';
        let format = moneyFormats.get(value.currency);
        if (!format) {
          format = new Intl.NumberFormat(tag, { style: 'currency', currency: value.currency });
          moneyFormats.set(value.currency, format);
        }
        return format.format(Number(value.amount));
      },
      points: (value) => translate(locale, 'common.points', { points: numberFormat.format(value) }),
      wholeNumber: (text) => wholeNumber(text, locale),
      decimal: (text) => decimalText(text, locale),
      numberText: (value) => numberText(value, locale),
      tierName: (tier) => {
        const key = `tier.${tier.key}`;
        return key in catalogues[locale] ? translate(locale, key as MessageKey) : tier.name;
      },
    };
  }, [locale, setLocale]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}
