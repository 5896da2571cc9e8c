import { createContext, Fragment, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
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
   * "12abc"), which is not read as a smaller number.
   */
  wholeNumber(text: string): number;
  /** A tier's name: the catalogue's word for the default program's keys (BRONZE …), else the name the program gives it. */
  tierName(tier: { key: string; name: string }): string;
}

/** The thousands separators an agent may type in each locale (besides a space, a no-break space or a narrow one). */
const GROUP_SEPARATORS: Record<Locale, string> = { de: '.', en: ',' };

export function wholeNumber(text: string, locale: Locale): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) return Number(value);
  for (const separator of [GROUP_SEPARATORS[locale], ' ', '\u00a0', '\u202f']) {
    const [first, ...groups] = value.split(separator);
    if (groups.length > 0 && /^\d{1,3}$/.test(first!) && groups.every((group) => /^\d{3}$/.test(group))) {
      return Number([first, ...groups].join(''));
    }
  }
  return Number.NaN;
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
