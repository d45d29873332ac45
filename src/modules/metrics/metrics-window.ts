/** The time windows metrics are asked for, with the width of one point of their time series. */
export const MetricsWindow = {
  LAST_5_MINUTES: 'LAST_5_MINUTES',
  LAST_15_MINUTES: 'LAST_15_MINUTES',
  LAST_HOUR: 'LAST_HOUR',
  LAST_6_HOURS: 'LAST_6_HOURS',
  LAST_24_HOURS: 'LAST_24_HOURS',
  LAST_7_DAYS: 'LAST_7_DAYS',
} as const;
export type MetricsWindow = (typeof MetricsWindow)[keyof typeof MetricsWindow];

const MINUTE = 60;

/**
 * Window length and series step in seconds; steps keep a series under about a hundred points. Steps of
 * an hour or more read the hourly rollups.
 */
export const WINDOW_SPANS: Record<MetricsWindow, { seconds: number; stepSeconds: number }> = {
  LAST_5_MINUTES: { seconds: 5 * MINUTE, stepSeconds: MINUTE },
  LAST_15_MINUTES: { seconds: 15 * MINUTE, stepSeconds: MINUTE },
  LAST_HOUR: { seconds: 60 * MINUTE, stepSeconds: MINUTE },
  LAST_6_HOURS: { seconds: 360 * MINUTE, stepSeconds: 5 * MINUTE },
  LAST_24_HOURS: { seconds: 1440 * MINUTE, stepSeconds: 60 * MINUTE },
  LAST_7_DAYS: { seconds: 10080 * MINUTE, stepSeconds: 120 * MINUTE },
};
