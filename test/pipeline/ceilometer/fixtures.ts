import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../../support/paths';

export const FIXTURES = path.join(REPO, 'test/fixtures/ceilometer');

export interface Vector {
  name: string;
  form: 'master' | 'legacy';
  secret: string;
  message_json: string;
  signature: string;
}

export interface SignatureFixture {
  ceilometer_version: string;
  vectors: Vector[];
}

export interface FormsFixture {
  ceilometer_version: string;
  secret: string;
  http_body: string;
  kafka_values: string[];
  legacy_kafka_values: string[];
  oslo_envelope: string;
  polling_notification: string;
}

export const signatures = (): SignatureFixture =>
  JSON.parse(readFileSync(path.join(FIXTURES, 'signatures.json'), 'utf8')) as SignatureFixture;
export const forms = (): FormsFixture => JSON.parse(readFileSync(path.join(FIXTURES, 'forms.json'), 'utf8')) as FormsFixture;
