/**
 * The ESP32 board as a product: what its firmware has, independent of whether a bench is real or
 * simulated. Rigs and the simulated ESP firmware both take these facts from here.
 * @module
 */

/** Capacity of the circular buffer the web handlers queue database-log events into. */
export const ESP_QUEUE_CAPACITY = 10;
